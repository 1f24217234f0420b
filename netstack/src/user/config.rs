//! The `[netstack]` configuration section: device, interface addressing and TCP tunables, with
//! the file/line/key error reporting of [`crate::config::Source`].
//!
//! ```toml
//! [netstack]
//! device = "tap"
//! interface = "fs0"
//! address = "198.18.0.2/24"
//! gateway = "198.18.0.1"
//! mac = "02:00:5e:00:00:02"
//! mtu = 1500
//! rx_buffer = "256k"
//! min_rto = "200ms"
//! congestion = "cubic"
//! keepalive = "off"
//! ```

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::UserConfig;
use crate::config::{duration, size, NumberOrText};
use crate::ip::IfaceConfig;
use crate::tcp::{Congestion, TcpConfig};
use crate::wire::{EthernetAddress, Ipv4Addr};

/// Which device carries the frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Tap,
    Dpdk,
}

/// `address = "a.b.c.d/prefix"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub Ipv4Addr, pub u8);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || {
            de::Error::custom(format!(
                "expected an address such as \"198.18.0.2/24\", got \"{text}\""
            ))
        };
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(bad)?;
        Ok(Cidr(ip, prefix))
    }
}

fn mac<'de, D: Deserializer<'de>>(d: D) -> Result<EthernetAddress, D::Error> {
    let text = String::deserialize(d)?;
    let parts: Vec<u8> = text
        .split(':')
        .filter_map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect();
    match <[u8; 6]>::try_from(parts) {
        Ok(b) if b[0] & 1 == 0 => Ok(EthernetAddress(b)),
        _ => Err(de::Error::custom(format!(
            "expected a unicast MAC such as \"02:00:5e:00:00:02\", got \"{text}\""
        ))),
    }
}

fn keepalive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Text(t) if t == "off" => Ok(None),
        raw => raw
            .duration()
            .map(Some)
            .ok_or_else(|| de::Error::custom("expected \"off\" or a duration such as \"2h\"")),
    }
}

fn default_mac() -> EthernetAddress {
    EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02])
}

fn default_address() -> Cidr {
    Cidr(Ipv4Addr::new(198, 18, 0, 2), 24)
}

fn default_interface() -> String {
    "fs0".into()
}

fn default_mtu() -> usize {
    1500
}

fn default_buffers() -> usize {
    16384
}

/// The `[netstack]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetstackSection {
    #[serde(default)]
    pub device: DeviceKind,
    #[serde(default = "default_interface")]
    pub interface: String,
    #[serde(default = "default_address")]
    pub address: Cidr,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default = "default_mac", deserialize_with = "mac")]
    pub mac: EthernetAddress,
    #[serde(default = "default_mtu")]
    pub mtu: usize,
    /// Packet buffers in the pool.
    #[serde(default = "default_buffers")]
    pub buffers: usize,
    #[serde(default, deserialize_with = "opt_size")]
    pub rx_buffer: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    pub tx_buffer: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub min_rto: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub delayed_ack: Option<Duration>,
    #[serde(default)]
    pub congestion: Option<CongestionName>,
    #[serde(default)]
    pub syn_backlog: Option<usize>,
    #[serde(default)]
    pub accept_backlog: Option<usize>,
    #[serde(default)]
    pub time_wait_max: Option<usize>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub time_wait: Option<Duration>,
    #[serde(default, deserialize_with = "opt_keepalive")]
    pub keepalive: Option<Option<Duration>>,
    #[serde(default)]
    pub nodelay: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CongestionName {
    Cubic,
    Newreno,
}

fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    size(d).map(Some)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn opt_keepalive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Duration>>, D::Error> {
    keepalive(d).map(Some)
}

impl Default for NetstackSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl NetstackSection {
    /// The TCP engine configuration: defaults overridden by what the section sets.
    pub fn tcp(&self) -> TcpConfig {
        let mut t = TcpConfig::default();
        let clamp = |v: u64| v.min(u32::MAX as u64) as u32;
        if let Some(v) = self.rx_buffer {
            t.rx_buffer = clamp(v);
        }
        if let Some(v) = self.tx_buffer {
            t.tx_buffer = clamp(v);
        }
        t.min_rto = self.min_rto.unwrap_or(t.min_rto);
        t.delayed_ack = self.delayed_ack.unwrap_or(t.delayed_ack);
        if let Some(c) = self.congestion {
            t.congestion = match c {
                CongestionName::Cubic => Congestion::Cubic,
                CongestionName::Newreno => Congestion::NewReno,
            };
        }
        t.syn_backlog = self.syn_backlog.unwrap_or(t.syn_backlog);
        t.accept_backlog = self.accept_backlog.unwrap_or(t.accept_backlog);
        t.time_wait_max = self.time_wait_max.unwrap_or(t.time_wait_max);
        t.time_wait = self.time_wait.unwrap_or(t.time_wait);
        t.keepalive = self.keepalive.unwrap_or(t.keepalive);
        t.nodelay = self.nodelay.unwrap_or(t.nodelay);
        t.mss = (self.mtu.saturating_sub(40)).min(u16::MAX as usize) as u16;
        t
    }

    /// Everything [`super::start`] needs (TAP).
    pub fn user_config(&self) -> UserConfig {
        UserConfig {
            interface: self.interface.clone(),
            iface: IfaceConfig {
                mac: self.mac,
                addr: self.address.0,
                prefix: self.address.1,
                gateway: self.gateway,
                mtu: self.mtu,
            },
            tcp: self.tcp(),
            buffers: self.buffers,
            pcap: None,
            fault: None,
            idle_sleep: Duration::ZERO,
            worker: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    #[derive(Debug, Deserialize)]
    struct File {
        #[serde(default)]
        netstack: NetstackSection,
    }

    fn parse(text: &str) -> Result<File, crate::config::ConfigError> {
        Source {
            path: "t.toml".into(),
            text: text.into(),
        }
        .parse()
    }

    #[test]
    fn full_section_maps_to_stack_and_tcp_config() {
        let f = parse(
            "[netstack]\ndevice = \"tap\"\ninterface = \"tap9\"\naddress = \"198.18.0.2/24\"\n\
             gateway = \"198.18.0.1\"\nmac = \"02:00:00:00:00:09\"\nmtu = 9000\nrx_buffer = \"4m\"\n\
             min_rto = \"100ms\"\ncongestion = \"newreno\"\nkeepalive = \"2h\"\nnodelay = false\n",
        )
        .unwrap();
        let u = f.netstack.user_config();
        assert_eq!(u.interface, "tap9");
        assert_eq!(
            (u.iface.addr, u.iface.prefix, u.iface.mtu),
            (Ipv4Addr::new(198, 18, 0, 2), 24, 9000)
        );
        assert_eq!(u.iface.gateway, Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(u.tcp.rx_buffer, 4 << 20);
        assert_eq!(u.tcp.min_rto, Duration::from_millis(100));
        assert_eq!(u.tcp.congestion, Congestion::NewReno);
        assert_eq!(u.tcp.keepalive, Some(Duration::from_secs(7200)));
        assert!(!u.tcp.nodelay);
        assert_eq!(u.tcp.mss, 8960);
    }

    #[test]
    fn defaults_and_errors_with_line_and_key() {
        let f = parse("").unwrap();
        assert_eq!(f.netstack.address, Cidr(Ipv4Addr::new(198, 18, 0, 2), 24));
        assert_eq!(f.netstack.tcp().keepalive, None);
        let e = parse("[netstack]\nmtu = 1500\naddress = \"198.18.0.2\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "address"));
        assert!(e.message.contains("198.18.0.2/24"), "{e}");
        let e = parse("[netstack]\nmac = \"01:00:00:00:00:01\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "mac"));
        let e = parse("[netstack]\nspeed = 3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown field"), "{e}");
    }
}
