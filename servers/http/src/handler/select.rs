//! Which server and which location answer a request, in nginx's order.

use crate::config::{Config, Location, Matcher, Server, ServerName};

/// Picks the server for a connection's listener and the request's host (nginx's order).
pub fn select_server<'c>(cfg: &'c Config, listener: usize, host: &str) -> &'c Server {
    let candidates = cfg
        .by_listener
        .get(listener)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if let [only] = candidates {
        return &cfg.servers[*only]; // one server on this address: no name to compare
    }
    let server = |i: &usize| &cfg.servers[*i];
    let names = |i: &usize| server(i).names.iter();
    let exact = candidates
        .iter()
        .find(|i| names(i).any(|n| matches!(n, ServerName::Exact(e) if e == host)));
    // The candidate whose wildcard name matches the most characters of the host.
    let longest = |matched: fn(&ServerName, &str) -> Option<usize>| {
        candidates
            .iter()
            .filter_map(|i| {
                names(i)
                    .filter_map(|n| matched(n, host))
                    .max()
                    .map(|len| (len, i))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, i)| i)
    };
    let leading = || {
        longest(|n, host| match n {
            ServerName::LeadingWild(w) if host.ends_with(w.as_str()) => Some(w.len()),
            _ => None,
        })
    };
    let trailing = || {
        longest(|n, host| match n {
            ServerName::TrailingWild(w) if host.starts_with(w.as_str()) => Some(w.len()),
            _ => None,
        })
    };
    let regex = || {
        candidates
            .iter()
            .find(|i| names(i).any(|n| matches!(n, ServerName::Regex(r) if r.is_match(host))))
    };
    let chosen = exact
        .or_else(leading)
        .or_else(trailing)
        .or_else(regex)
        .or(candidates.first());
    chosen.map(server).unwrap_or(&cfg.servers[0])
}

/// nginx's location order: exact match; else the longest prefix (final if `^~`); else the
/// first matching regex in file order; else that longest prefix. Nested locations repeat it.
pub fn find_location<'l>(locations: &'l [Location], path: &[u8]) -> Option<&'l Location> {
    let mut best: Option<&Location> = None;
    let mut best_len = 0;
    for loc in locations {
        match &loc.matcher {
            Matcher::Exact(p) if p.as_bytes() == path => return Some(loc),
            Matcher::Prefix { path: p, .. }
                if path.starts_with(p.as_bytes()) && (best.is_none() || p.len() > best_len) =>
            {
                best = Some(loc);
                best_len = p.len();
            }
            _ => {}
        }
    }
    if let Some(b) = best {
        if let Some(inner) = find_location(&b.children, path) {
            return Some(inner);
        }
        if matches!(
            b.matcher,
            Matcher::Prefix {
                stop_regex: true,
                ..
            }
        ) {
            return Some(b);
        }
    }
    let mut text = None;
    for loc in locations {
        if let Matcher::Regex(re) = &loc.matcher {
            let text = text.get_or_insert_with(|| String::from_utf8_lossy(path));
            if re.is_match(text) {
                return find_location(&loc.children, path).or(Some(loc));
            }
        }
    }
    best
}

pub(super) fn prefix_of(loc: &Location) -> Option<Vec<u8>> {
    match &loc.matcher {
        Matcher::Prefix { path, .. } | Matcher::Exact(path) => Some(path.as_bytes().to_vec()),
        _ => None,
    }
}
