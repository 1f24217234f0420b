//! nginx variables in directive values (`return 301 https://$host$request_uri`): parsed once
//! into a template at load time, so an unknown variable is a configuration error, and expanded
//! per request.

use std::fmt::Write;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The current URI, decoded and normalised (changes with internal redirects).
    Uri,
    /// The original request target, with its query string, as received.
    RequestUri,
    Args,
    /// `?` if there are arguments, else empty.
    IsArgs,
    /// Host from the request line or Host header, lower-cased, without port.
    Host,
    /// The Host header as sent.
    HttpHost,
    Scheme,
    ServerPort,
    ServerAddr,
    RemoteAddr,
    RemotePort,
    RequestMethod,
}

impl Var {
    fn named(name: &str) -> Option<Var> {
        Some(match name {
            "uri" | "document_uri" => Var::Uri,
            "request_uri" => Var::RequestUri,
            "args" | "query_string" => Var::Args,
            "is_args" => Var::IsArgs,
            "host" => Var::Host,
            "http_host" => Var::HttpHost,
            "scheme" => Var::Scheme,
            "server_port" => Var::ServerPort,
            "server_addr" => Var::ServerAddr,
            "remote_addr" => Var::RemoteAddr,
            "remote_port" => Var::RemotePort,
            "request_method" => Var::RequestMethod,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What variables are expanded from.
pub struct Context<'a> {
    pub uri: &'a [u8],
    pub query: Option<&'a [u8]>,
    pub request_uri: &'a [u8],
    pub host: &'a str,
    pub http_host: Option<&'a [u8]>,
    pub method: &'a [u8],
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl Template {
    /// Parses `$name` and `${name}` references; errors name the unknown variable.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let (name, after) = match rest.strip_prefix('{') {
                Some(braced) => {
                    let end = braced
                        .find('}')
                        .ok_or_else(|| format!("unclosed \"${{\" in \"{text}\""))?;
                    (&braced[..end], &braced[end + 1..])
                }
                None => {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    (&rest[..end], &rest[end..])
                }
            };
            if name.is_empty() {
                literal.push('$');
            } else {
                let var =
                    Var::named(name).ok_or_else(|| format!("unknown variable \"${name}\""))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(var));
            }
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// The text, when it holds no variable.
    pub fn as_static(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }

    pub fn expand(&self, cx: &Context<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => expand_var(&mut out, *v, cx),
            }
        }
        out
    }
}

fn expand_var(out: &mut String, var: Var, cx: &Context<'_>) {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match var {
        Var::Uri => out.push_str(&lossy(cx.uri)),
        Var::RequestUri => out.push_str(&lossy(cx.request_uri)),
        Var::Args => out.push_str(&lossy(cx.query.unwrap_or(b""))),
        Var::IsArgs => out.push_str(if cx.query.is_some_and(|q| !q.is_empty()) {
            "?"
        } else {
            ""
        }),
        Var::Host => out.push_str(cx.host),
        Var::HttpHost => out.push_str(&lossy(cx.http_host.unwrap_or(b""))),
        Var::Scheme => out.push_str("http"),
        Var::ServerPort => {
            let _ = write!(out, "{}", cx.local.port());
        }
        Var::ServerAddr => {
            let _ = write!(out, "{}", cx.local.ip());
        }
        Var::RemoteAddr => {
            let _ = write!(out, "{}", cx.peer.ip());
        }
        Var::RemotePort => {
            let _ = write!(out, "{}", cx.peer.port());
        }
        Var::RequestMethod => out.push_str(&lossy(cx.method)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_expands_like_nginx() {
        let t = Template::parse("https://$host${request_uri}x $is_args$args $ end").unwrap();
        let cx = Context {
            uri: b"/a b",
            query: Some(b"q=1"),
            request_uri: b"/a%20b?q=1",
            host: "example.com",
            http_host: Some(b"Example.com:8080"),
            method: b"GET",
            local: "127.0.0.1:8080".parse().unwrap(),
            peer: "10.1.2.3:5555".parse().unwrap(),
        };
        assert_eq!(t.expand(&cx), "https://example.com/a%20b?q=1x ?q=1 $ end");
        assert_eq!(
            Template::parse("$remote_addr:$server_port $uri")
                .unwrap()
                .expand(&cx),
            "10.1.2.3:8080 /a b"
        );
        assert_eq!(Template::parse("plain").unwrap().as_static(), Some("plain"));
        assert_eq!(Template::parse("$uri").unwrap().as_static(), None);
        assert_eq!(
            Template::parse("$nosuch").unwrap_err(),
            "unknown variable \"$nosuch\""
        );
        assert!(Template::parse("${host").is_err());
    }
}
