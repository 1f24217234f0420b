//! One or more tests per behaviour, each asserting the exact segments that come out.

use super::*;
use crate::tcp::tcb::T_RTX;

fn syn_mss(seq: u32) -> TcpRepr<'static> {
    let mut s = seg(F::SYN, seq, 0);
    s.max_seg_size = Some(1460);
    s
}

/// A Linux-like SYN: mss 1460, sackOK, TS, wscale 7.
fn linux_syn(seq: u32, tsval: u32) -> TcpRepr<'static> {
    let mut s = syn_mss(seq);
    s.sack_permitted = true;
    s.window_scale = Some(7);
    s.timestamp = Some(TcpTimestamp { tsval, tsecr: 0 });
    s
}

fn established_mss(h: &mut H) -> (Handle, u32, u32) {
    let (c, iss) = h.accept(syn_mss(PEER_ISS));
    (c, iss.wrapping_add(1), PEER_ISS + 1)
}

#[test]
fn passive_handshake_negotiates_options() {
    let mut h = H::new(TcpConfig::default());
    h.tcp.listen(LOCAL, 16).unwrap();
    h.send(linux_syn(PEER_ISS, 5000), &[]);
    let sa = h.recv_one();
    assert_eq!(sa.flags(), F::SYN | F::ACK);
    assert_eq!(sa.ack(), PEER_ISS + 1);
    assert_eq!((sa.src, sa.dst), (LOCAL, PEER));
    assert_eq!(sa.repr.max_seg_size, Some(1460));
    assert_eq!(sa.repr.window_scale, Some(7));
    assert!(sa.repr.sack_permitted);
    assert_eq!(sa.repr.timestamp.unwrap().tsecr, 5000);
    assert_eq!(sa.repr.window_len, 65535);
    assert!(sa.payload.is_empty());
    let mut ack = seg(F::ACK, PEER_ISS + 1, sa.seq() + 1);
    ack.window_len = 502; // scaled by 7: 64256
    ack.timestamp = Some(TcpTimestamp {
        tsval: 5001,
        tsecr: sa.repr.timestamp.unwrap().tsval,
    });
    h.send(ack, &[]);
    h.recv_none();
    let handle = match h.events.as_slice() {
        [Event::Accepted {
            handle,
            local,
            peer,
            ..
        }] => {
            assert_eq!((*local, *peer), (LOCAL, PEER));
            *handle
        }
        e => panic!("{e:?}"),
    };
    assert_eq!(h.tcp.state_name(handle), Some("ESTABLISHED"));
    let t = h.tcb(handle);
    // MSS 1460 less the 12 timestamp option bytes every segment carries, as Linux sends.
    assert_eq!((t.snd_wscale, t.rcv_wscale, t.mss), (7, 7, 1448));
    assert_eq!(t.snd_wnd, 502 << 7);
    assert!(t.has(tcb::SACK_OK) && t.has(tcb::TS_OK));
}

#[test]
fn active_handshake_without_peer_options() {
    let mut h = H::new(TcpConfig::default());
    let c = h.tcp.connect(LOCAL, PEER, h.now).unwrap();
    let syn = h.recv_one();
    assert_eq!(syn.flags(), F::SYN);
    assert_eq!(syn.repr.max_seg_size, Some(1460));
    assert_eq!(syn.repr.window_scale, Some(7));
    assert!(syn.repr.sack_permitted);
    assert_eq!(syn.repr.timestamp.map(|t| t.tsecr), Some(0));
    let mut sa = seg(F::SYN | F::ACK, 7000, syn.seq() + 1);
    sa.max_seg_size = Some(1200);
    h.at(10);
    h.send(sa, &[]);
    let ack = h.recv_one();
    assert_eq!(ack.flags(), F::ACK);
    assert_eq!((ack.seq(), ack.ack()), (syn.seq() + 1, 7001));
    assert_eq!(ack.repr.timestamp, None, "peer did not offer timestamps");
    assert_eq!(ack.repr.window_scale, None);
    assert_eq!(ack.repr.window_len, 65535, "unscaled window");
    assert_eq!(h.events, [Event::Connected(c)]);
    let t = h.tcb(c);
    assert_eq!((t.mss, t.snd_wscale, t.rcv_wscale), (1200, 0, 0));
    assert!(!t.has(tcb::SACK_OK) && !t.has(tcb::TS_OK));
    assert_eq!(t.rto_us, 200_000, "SYN RTT 10 ms, min RTO 200 ms");
}

#[test]
fn connect_times_out_with_backoff() {
    let mut h = H::new(TcpConfig {
        syn_retries: 2,
        ..plain_cfg()
    });
    let c = h.tcp.connect(LOCAL, PEER, h.now).unwrap();
    let syn = h.recv_one();
    h.at(999);
    h.recv_none();
    h.at(1);
    assert_eq!(h.recv_one().seq(), syn.seq(), "retry after 1 s");
    h.at(1999);
    h.recv_none();
    h.at(1);
    assert_eq!(h.recv_one().flags(), F::SYN, "then after 2 s");
    h.at(4000);
    h.recv_none();
    assert_eq!(h.events, [Event::ConnectFailed(c)]);
    assert_eq!(h.tcp.connections(), 0);
}

#[test]
fn data_quick_ack_then_delayed_ack() {
    let mut h = H::new(plain_cfg());
    let (c, s, mut p) = established_mss(&mut h);
    // Quick ACKs at connection start.
    for _ in 0..8 {
        h.send(seg(F::ACK | F::PSH, p, s), &[7; 100]);
        p += 100;
        let a = h.recv_one();
        assert_eq!((a.flags(), a.seq(), a.ack()), (F::ACK, s, p));
    }
    // Then delayed: one small segment waits 40 ms.
    h.send(seg(F::ACK | F::PSH, p, s), &[7; 100]);
    p += 100;
    h.at(39);
    h.recv_none();
    h.at(1);
    assert_eq!(h.recv_one().ack(), p);
    // Every second full-sized segment is ACKed at once (RFC 1122 / 5681 §4.2).
    h.send(seg(F::ACK, p, s), &[1; 1460]);
    p += 1460;
    h.recv_none();
    h.send(seg(F::ACK, p, s), &[2; 1460]);
    p += 1460;
    assert_eq!(h.recv_one().ack(), p);
    assert_eq!(h.data_of(c).len(), 900 + 2920);
    // A reply carries the ACK (piggyback), no separate ACK.
    h.send(seg(F::ACK | F::PSH, p, s), &[3; 10]);
    p += 10;
    h.tcp.send(c, Bytes::from_static(b"reply")).unwrap();
    let r = h.recv_one();
    assert_eq!(
        (r.flags(), r.ack(), &r.payload[..]),
        (F::ACK | F::PSH, p, &b"reply"[..])
    );
    h.at(100);
    h.recv_none();
    // The delay runs from the data's arrival, even when output runs later.
    h.send(seg(F::ACK | F::PSH, p, s + 5), &[4; 10]);
    p += 10;
    h.at(25);
    h.recv_none();
    h.at(15);
    assert_eq!(h.recv_one().ack(), p);
    // Output 40 ms or more after the arrival sends the ACK at once.
    h.send(seg(F::ACK | F::PSH, p, s + 5), &[5; 10]);
    p += 10;
    h.at(40);
    assert_eq!(h.recv_one().ack(), p);
}

#[test]
fn nagle_holds_small_segments() {
    let mut h = H::new(TcpConfig {
        nodelay: false,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    h.tcp.send(c, payload(100)).unwrap();
    let a = h.recv_one();
    assert_eq!((a.seq(), a.payload.len()), (s, 100));
    h.tcp.send(c, payload(100)).unwrap();
    h.recv_none(); // small and unacked data outstanding
    h.tcp.send(c, payload(1400)).unwrap();
    let b = h.recv_one(); // a full segment may go
    assert_eq!((b.seq(), b.payload.len()), (s + 100, 1460));
    h.send(seg(F::ACK, p, s + 1560), &[]);
    let r = h.recv_one(); // all acked: the 40-byte tail goes
    assert_eq!((r.seq(), r.payload.len()), (s + 1560, 40));
    // NODELAY sends at once.
    h.tcp.set_nodelay(c, true);
    h.tcp.send(c, payload(10)).unwrap();
    assert_eq!(h.recv_one().payload.len(), 10);
}

#[test]
fn window_scaling_both_ways() {
    let mut h = H::new(TcpConfig::default());
    let mut syn = syn_mss(PEER_ISS);
    syn.window_scale = Some(2);
    syn.window_len = 1000;
    let (c, iss) = h.accept(syn);
    let s = iss + 1;
    assert_eq!(h.tcb(c).snd_wnd, 4000, "1000 << 2");
    h.tcp.send(c, payload(10_000)).unwrap();
    let out = h.recv();
    // Two full segments; the 1080-byte rest waits (sender SWS avoidance).
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].seq(), s + 1460);
    // Our window field is scaled by 7: 256 KiB >> 7.
    assert_eq!(out[0].repr.window_len, 2048);
    let mut ack = seg(F::ACK, PEER_ISS + 1, s + 2920);
    ack.window_len = 5000; // 20000 bytes
    h.send(ack, &[]);
    let out = h.recv();
    let sent: usize = out.iter().map(|o| o.payload.len()).sum();
    assert_eq!(sent, 10_000 - 2920);
}

#[test]
fn zero_window_persist_probes_with_backoff() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    let mut zw = seg(F::ACK, p, s);
    zw.window_len = 0;
    h.send(zw, &[]);
    h.recv_none();
    h.tcp.send(c, payload(100)).unwrap();
    h.recv_none();
    // Probes at 1 s, then 2 s, 4 s later: SEQ = SND.UNA - 1, no data.
    for wait in [1000, 2000, 4000] {
        h.at(wait - 1);
        h.recv_none();
        h.at(1);
        let probe = h.recv_one();
        assert_eq!(
            (probe.flags(), probe.seq(), probe.payload.len()),
            (F::ACK, s - 1, 0)
        );
        h.send(zw, &[]); // still closed
        h.recv_none();
    }
    let mut open = seg(F::ACK, p, s);
    open.window_len = 1000;
    h.send(open, &[]);
    let d = h.recv_one();
    assert_eq!((d.seq(), d.payload.len()), (s, 100));
}

#[test]
fn rto_backoff_and_karn() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    h.tcp.send(c, payload(100)).unwrap();
    assert_eq!(h.recv_one().seq(), s);
    for wait in [1000, 2000, 4000] {
        h.at(wait - 1);
        h.recv_none();
        h.at(1);
        let r = h.recv_one();
        assert_eq!((r.seq(), r.payload.len()), (s, 100), "retransmission");
    }
    assert_eq!(h.tcp.stats().rto_expiries, 3);
    assert_eq!(h.tcb(c).cc.cwnd, 1460, "one segment after RTO");
    h.at(50);
    h.send(seg(F::ACK, p, s + 100), &[]);
    h.recv_none();
    // Karn: the ACK of a retransmitted segment gives no sample.
    assert_eq!(h.tcb(c).srtt_us, 0);
    // A fresh segment is timed.
    h.tcp.send(c, payload(100)).unwrap();
    h.recv_one();
    h.at(50);
    h.send(seg(F::ACK, p, s + 200), &[]);
    h.recv_none();
    let t = h.tcb(c);
    assert_eq!(t.srtt_us, 50_000);
    assert_eq!(t.rto_us, 200_000, "max(min_rto, 50 + 4 * 25 ms)");
    assert!(!h.tcp.timers.is_armed(c.index * 3 + T_RTX));
}

#[test]
fn fast_retransmit_newreno() {
    let mut h = H::new(TcpConfig {
        congestion: Congestion::NewReno,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    h.tcp.send(c, payload(5 * 1460)).unwrap();
    assert_eq!(h.recv().len(), 5);
    h.send(seg(F::ACK, p, s + 1460), &[]);
    h.recv_none();
    for _ in 0..2 {
        h.send(seg(F::ACK, p, s + 1460), &[]);
        h.recv_none();
    }
    h.send(seg(F::ACK, p, s + 1460), &[]);
    let r = h.recv_one();
    assert_eq!(
        (r.seq(), r.payload.len()),
        (s + 1460, 1460),
        "fast retransmit"
    );
    assert_eq!(h.tcp.stats().fast_retransmits, 1);
    let t = h.tcb(c);
    assert_eq!(t.recovery, tcb::Recovery::NewReno);
    // cwnd was 14600 + 1460 at loss, flight 5840 -> ssthresh max(2920, 2920) + 3 MSS.
    assert_eq!(t.cc.ssthresh, 2920);
    assert_eq!(t.cc.cwnd, 2920 + 3 * 1460);
    // Partial ACK (RFC 6582): the next hole goes at once.
    h.send(seg(F::ACK, p, s + 2920), &[]);
    let r = h.recv_one();
    assert_eq!((r.seq(), r.payload.len()), (s + 2920, 1460));
    // Full ACK ends recovery with cwnd deflated.
    h.send(seg(F::ACK, p, s + 5 * 1460), &[]);
    h.recv_none();
    let t = h.tcb(c);
    assert_eq!(t.recovery, tcb::Recovery::None);
    assert_eq!(t.cc.cwnd, 2920);
}

fn sack_cfg() -> TcpConfig {
    TcpConfig {
        sack: true,
        ..plain_cfg()
    }
}

fn sack_syn() -> TcpRepr<'static> {
    let mut s = syn_mss(PEER_ISS);
    s.sack_permitted = true;
    s
}

fn with_sack(mut r: TcpRepr<'static>, blocks: &[(u32, u32)]) -> TcpRepr<'static> {
    for (i, b) in blocks.iter().enumerate() {
        r.sack_ranges[i] = Some(*b);
    }
    r
}

#[test]
fn sack_recovery_retransmits_holes_only() {
    let mut h = H::new(sack_cfg());
    let (c, iss) = h.accept(sack_syn());
    let (s, p) = (iss + 1, PEER_ISS + 1);
    let m = 1460;
    h.tcp.send(c, payload(10 * m as usize)).unwrap();
    assert_eq!(h.recv().len(), 10, "IW10");
    // Segments 0 and 4 lost; the peer SACKs the rest as it arrives.
    h.send(with_sack(seg(F::ACK, p, s), &[(s + m, s + 2 * m)]), &[]);
    h.recv_none();
    h.send(with_sack(seg(F::ACK, p, s), &[(s + m, s + 3 * m)]), &[]);
    h.recv_none();
    h.send(with_sack(seg(F::ACK, p, s), &[(s + m, s + 4 * m)]), &[]);
    h.send(
        with_sack(
            seg(F::ACK, p, s),
            &[(s + 5 * m, s + 6 * m), (s + m, s + 4 * m)],
        ),
        &[],
    );
    // Recovery: ssthresh = 0.7 * 14600 = 10220; pipe = 4 segments above HighSACK = 5840:
    // room for the two holes (RFC 6675 NextSeg rule 1), nothing SACKed is resent.
    let out = h.recv();
    let seqs: Vec<_> = out.iter().map(|o| (o.seq(), o.payload.len())).collect();
    assert_eq!(seqs, [(s, m as usize), (s + 4 * m, m as usize)]);
    assert_eq!(h.tcb(c).recovery, tcb::Recovery::Sack);
    assert_eq!(h.tcb(c).cc.cwnd, 10220);
    h.send(seg(F::ACK, p, s + 10 * m), &[]);
    h.recv_none();
    let t = h.tcb(c);
    assert_eq!(t.recovery, tcb::Recovery::None);
    assert!(t.sack.is_none());
}

#[test]
fn out_of_order_data_is_sacked_and_reassembled() {
    let mut h = H::new(sack_cfg());
    let (c, iss) = h.accept(sack_syn());
    let (s, p) = (iss + 1, PEER_ISS + 1);
    h.send(seg(F::ACK, p + 100, s), &[2; 100]);
    let a = h.recv_one();
    assert_eq!(a.ack(), p);
    assert_eq!(a.repr.sack_ranges[0], Some((p + 100, p + 200)));
    h.send(seg(F::ACK, p + 300, s), &[4; 100]);
    let a = h.recv_one();
    assert_eq!(
        a.repr.sack_ranges[..2],
        [Some((p + 300, p + 400)), Some((p + 100, p + 200))]
    );
    h.send(seg(F::ACK, p, s), &[1; 100]);
    let a = h.recv_one();
    assert_eq!(
        (a.ack(), a.repr.sack_ranges[0]),
        (p + 200, Some((p + 300, p + 400)))
    );
    // A duplicate is reported as D-SACK (RFC 2883).
    h.send(seg(F::ACK, p, s), &[1; 100]);
    let a = h.recv_one();
    assert_eq!(
        (a.ack(), a.repr.sack_ranges[0]),
        (p + 200, Some((p, p + 100)))
    );
    h.send(seg(F::ACK, p + 200, s), &[3; 100]);
    assert_eq!(h.recv_one().ack(), p + 400);
    let mut want = vec![1u8; 100];
    want.extend([2; 100]);
    want.extend([3; 100]);
    want.extend([4; 100]);
    assert_eq!(h.data_of(c), want);
    assert!(h.tcb(c).ooo.is_none());
}

#[test]
fn paws_drops_old_timestamps() {
    let mut h = H::new(TcpConfig::default());
    let (c, iss) = h.accept(linux_syn(PEER_ISS, 5000));
    let (s, p) = (iss + 1, PEER_ISS + 1);
    let ts = |v| Some(TcpTimestamp { tsval: v, tsecr: 0 });
    let mut d = seg(F::ACK, p, s);
    d.window_len = 500;
    d.timestamp = ts(6000);
    h.send(d, b"new");
    let a = h.recv_one();
    assert_eq!(a.repr.timestamp.unwrap().tsecr, 6000);
    let mut old = seg(F::ACK, p + 3, s);
    old.window_len = 500;
    old.timestamp = ts(5500);
    h.send(old, b"old");
    let a = h.recv_one();
    assert_eq!((a.ack(), a.repr.timestamp.unwrap().tsecr), (p + 3, 6000));
    assert_eq!(h.tcp.stats().drop_paws, 1);
    assert_eq!(h.data_of(c), b"new");
}

#[test]
fn rfc5961_challenge_acks_and_rate_limit() {
    let mut h = H::new(TcpConfig {
        challenge_ack_limit: 2,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    // RST in window but not exact: challenge ACK.
    h.send(seg(F::RST, p + 10, 0), &[]);
    let a = h.recv_one();
    assert_eq!((a.flags(), a.seq(), a.ack()), (F::ACK, s, p));
    // SYN on an established connection: challenge ACK.
    h.send(seg(F::SYN, p + 5000, 0), &[]);
    assert_eq!(h.recv_one().ack(), p);
    // Budget of 2 per second spent.
    h.send(seg(F::RST, p + 10, 0), &[]);
    h.recv_none();
    assert_eq!(h.tcp.stats().challenge_acks_suppressed, 1);
    h.at(1000);
    h.send(seg(F::RST, p + 10, 0), &[]);
    assert_eq!(h.recv_one().ack(), p);
    // An old ACK (below SND.UNA - MAX.SND.WND) is challenged as well.
    h.at(1000);
    h.send(seg(F::ACK, p, s.wrapping_sub(200_000)), &[]);
    assert_eq!(h.recv_one().ack(), p);
    // Out of window RST: silently dropped.
    h.send(seg(F::RST, p + 1_000_000, 0), &[]);
    h.recv_none();
    // Exact RST resets.
    h.send(seg(F::RST, p, 0), &[]);
    h.recv_none();
    assert_eq!(h.events, [Event::Closed(c)]);
    assert_eq!(h.tcp.connections(), 0);
}

#[test]
fn syn_cookies_when_syn_queue_overflows() {
    let mut h = H::new(TcpConfig {
        syn_backlog: 1,
        ..TcpConfig::default()
    });
    h.tcp.listen(LOCAL, 16).unwrap();
    h.send(linux_syn(PEER_ISS, 100), &[]);
    assert_eq!(h.recv_one().flags(), F::SYN | F::ACK);
    assert_eq!(h.tcp.connections(), 1);
    let mut syn2 = linux_syn(9000, 200);
    syn2.src_port = 40001;
    syn2.max_seg_size = Some(1440);
    h.send(syn2, &[]);
    let sa = h.recv_one();
    assert_eq!(h.tcp.stats().syncookies_sent, 1);
    assert_eq!(h.tcp.connections(), 1, "no state for the cookie");
    assert_eq!(sa.repr.max_seg_size, Some(1440));
    assert_eq!(sa.repr.window_scale, Some(7));
    let mut ack = seg(F::ACK, 9001, sa.seq() + 1);
    ack.src_port = 40001;
    ack.window_len = 100;
    ack.timestamp = Some(TcpTimestamp {
        tsval: 201,
        tsecr: sa.repr.timestamp.unwrap().tsval,
    });
    h.send(ack, b"GET");
    let a = h.recv_one();
    assert_eq!(a.ack(), 9004);
    let c = match h.events.as_slice() {
        [Event::Accepted { handle, peer, .. }, Event::Data { data, .. }] => {
            assert_eq!(peer.port(), 40001);
            assert_eq!(&data[..], b"GET");
            *handle
        }
        e => panic!("{e:?}"),
    };
    let t = h.tcb(c);
    // The cookie's MSS (1440) less the timestamp option.
    assert_eq!((t.mss, t.snd_wscale, t.snd_wnd), (1428, 7, 100 << 7));
    assert!(t.has(tcb::SACK_OK) && t.has(tcb::TS_OK));
    // A forged ACK gets a RST.
    let mut bogus = seg(F::ACK, 5, 0x1234_5678);
    bogus.src_port = 40002;
    h.send(bogus, &[]);
    let r = h.recv_one();
    assert_eq!((r.flags(), r.seq()), (F::RST, 0x1234_5678));
    assert_eq!(h.tcp.stats().syncookies_failed, 1);
}

#[test]
fn rst_on_closed_port() {
    let mut h = H::new(plain_cfg());
    h.send(seg(F::SYN, 1000, 0), &[]);
    let r = h.recv_one();
    assert_eq!((r.flags(), r.seq(), r.ack()), (F::RST | F::ACK, 0, 1001));
    h.send(seg(F::ACK, 1000, 5555), b"xy");
    let r = h.recv_one();
    assert_eq!((r.flags(), r.seq()), (F::RST, 5555));
    h.send(seg(F::RST, 1000, 0), &[]);
    h.recv_none();
}

#[test]
fn time_wait_reack_reuse_and_expiry() {
    let mut h = H::new(TcpConfig::default());
    let (c, iss) = h.accept(linux_syn(PEER_ISS, 5000));
    let (s, p) = (iss + 1, PEER_ISS + 1);
    let ts = |v| Some(TcpTimestamp { tsval: v, tsecr: 0 });
    h.tcp.close(c);
    let fin = h.recv_one();
    assert_eq!((fin.flags(), fin.seq()), (F::ACK | F::FIN, s));
    let mut a = seg(F::ACK, p, s + 1);
    a.timestamp = ts(5002);
    h.send(a, &[]);
    h.recv_none();
    assert_eq!(h.tcp.state_name(c), Some("FIN-WAIT-2"));
    let mut pf = seg(F::ACK | F::FIN, p, s + 1);
    pf.timestamp = ts(5003);
    h.send(pf, &[]);
    let a = h.recv_one();
    assert_eq!((a.flags(), a.seq(), a.ack()), (F::ACK, s + 1, p + 1));
    assert_eq!(h.events, [Event::Closed(c)]);
    assert_eq!((h.tcp.connections(), h.tcp.time_wait_len()), (0, 1));
    // Retransmitted FIN: re-ACKed from the TIME-WAIT table.
    h.send(pf, &[]);
    let a = h.recv_one();
    assert_eq!((a.flags(), a.seq(), a.ack()), (F::ACK, s + 1, p + 1));
    // A new SYN with a newer timestamp reopens the 4-tuple (RFC 6191).
    h.send(linux_syn(p + 100_000, 6000), &[]);
    let sa = h.recv_one();
    assert_eq!(sa.flags(), F::SYN | F::ACK);
    assert_eq!(sa.seq(), s + 1 + 65537);
    assert_eq!(h.tcp.time_wait_len(), 0);
    assert_eq!(h.tcp.stats().time_wait_reused, 1);
}

#[test]
fn time_wait_expires() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    h.tcp.close(c);
    h.recv_one();
    h.send(seg(F::ACK | F::FIN, p, s + 1), &[]);
    h.recv_one();
    assert_eq!(h.tcp.time_wait_len(), 1);
    h.at(59_999);
    h.recv();
    assert_eq!(h.tcp.time_wait_len(), 1);
    h.at(1);
    h.recv();
    assert_eq!(h.tcp.time_wait_len(), 0);
    // Now a stray ACK gets a RST again.
    h.send(seg(F::ACK, p + 1, s + 1), &[]);
    assert_eq!(h.recv_one().flags(), F::RST);
}

#[test]
fn simultaneous_open() {
    let mut h = H::new(plain_cfg());
    let c = h.tcp.connect(LOCAL, PEER, h.now).unwrap();
    let syn = h.recv_one();
    let iss = syn.seq();
    h.send(syn_mss(7000), &[]);
    let sa = h.recv_one();
    assert_eq!(
        (sa.flags(), sa.seq(), sa.ack()),
        (F::SYN | F::ACK, iss, 7001)
    );
    assert_eq!(h.tcp.state_name(c), Some("SYN-RECEIVED"));
    let mut peer_sa = syn_mss(7000);
    peer_sa.flags = F::SYN | F::ACK;
    peer_sa.ack_number = iss + 1;
    h.send(peer_sa, &[]);
    h.recv_none();
    assert_eq!(h.events, [Event::Connected(c)]);
    assert_eq!(h.tcp.state_name(c), Some("ESTABLISHED"));
    h.tcp.send(c, payload(10)).unwrap();
    let d = h.recv_one();
    assert_eq!((d.seq(), d.ack()), (iss + 1, 7001));
}

#[test]
fn simultaneous_close() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    h.tcp.close(c);
    assert_eq!(h.recv_one().flags(), F::ACK | F::FIN);
    h.send(seg(F::ACK | F::FIN, p, s), &[]); // crosses ours
    let a = h.recv_one();
    assert_eq!((a.flags(), a.seq(), a.ack()), (F::ACK, s + 1, p + 1));
    assert_eq!(h.tcp.state_name(c), Some("CLOSING"));
    h.send(seg(F::ACK, p + 1, s + 1), &[]);
    h.recv_none();
    assert_eq!(h.events, [Event::Closed(c)]);
    assert_eq!(h.tcp.time_wait_len(), 1);
}

#[test]
fn half_close_both_directions() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    // Peer closes first; we keep sending.
    h.send(seg(F::ACK | F::FIN, p, s), b"bye");
    let a = h.recv_one();
    assert_eq!(a.ack(), p + 4);
    assert_eq!(h.tcp.state_name(c), Some("CLOSE-WAIT"));
    assert!(h.events.contains(&Event::PeerClosed(c)));
    h.tcp.send(c, payload(100)).unwrap();
    h.tcp.close(c);
    let d = h.recv_one();
    assert_eq!(
        (d.flags(), d.payload.len()),
        (F::ACK | F::PSH | F::FIN, 100)
    );
    assert_eq!(h.tcp.state_name(c), Some("LAST-ACK"));
    h.send(seg(F::ACK, p + 4, s + 101), &[]);
    h.recv_none();
    assert_eq!(h.events.last(), Some(&Event::Closed(c)));
    assert_eq!(
        h.tcp.time_wait_len(),
        0,
        "the passive closer has no TIME-WAIT"
    );

    // We shut down writing first; the peer keeps sending.
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    h.tcp.shutdown_write(c);
    assert_eq!(h.recv_one().flags(), F::ACK | F::FIN);
    assert_eq!(h.tcp.send(c, payload(1)), Err(TcpError::NotConnected));
    h.send(seg(F::ACK, p, s + 1), b"more");
    assert_eq!(h.tcp.state_name(c), Some("FIN-WAIT-2"));
    h.recv();
    assert_eq!(h.data_of(c), b"more");
}

#[test]
fn keepalive_probes_and_timeout() {
    let mut h = H::new(TcpConfig {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_probes: 3,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    h.at(9_999);
    h.recv_none();
    h.at(1);
    let k = h.recv_one();
    assert_eq!((k.flags(), k.seq(), k.payload.len()), (F::ACK, s - 1, 0));
    h.at(100);
    h.send(seg(F::ACK, p, s), &[]); // answered
    h.at(900);
    h.recv_none();
    h.at(9_099);
    h.recv_none();
    h.at(1);
    assert_eq!(h.recv_one().seq(), s - 1, "idle again: probe");
    for _ in 0..2 {
        h.at(1000);
        assert_eq!(h.recv_one().seq(), s - 1);
    }
    h.at(1000);
    let r = h.recv_one();
    assert_eq!((r.flags(), r.seq()), (F::RST | F::ACK, s));
    assert_eq!(h.events, [Event::Closed(c)]);
    assert_eq!(h.tcp.stats().keepalive_timeouts, 1);
}

#[test]
fn abort_sends_rst() {
    let mut h = H::new(plain_cfg());
    let (c, s, p) = established_mss(&mut h);
    h.tcp.send(c, payload(100)).unwrap();
    h.recv_one();
    h.tcp.abort(c);
    let r = h.recv_one();
    assert_eq!((r.flags(), r.seq(), r.ack()), (F::RST | F::ACK, s + 100, p));
    assert_eq!(h.events, [Event::Closed(c)]);
    assert_eq!(h.tcp.send(c, payload(1)), Err(TcpError::InvalidHandle));
    h.at(5000);
    h.recv_none(); // no timers left behind
    assert!(h.tcp.poll_at().is_none());
}

#[test]
fn pause_reading_closes_window_and_reopens() {
    let mut h = H::new(TcpConfig {
        rx_buffer: 4000,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    h.tcp.pause_reading(c, true);
    h.send(seg(F::ACK, p, s), &[1; 1460]);
    assert_eq!(h.recv_one().repr.window_len, 4000 - 1460);
    h.send(seg(F::ACK, p + 1460, s), &[1; 1460]);
    h.send(seg(F::ACK, p + 2920, s), &[1; 1080]);
    let a = h.recv();
    assert_eq!(a.last().unwrap().repr.window_len, 0);
    assert!(h.data_of(c).is_empty());
    // Beyond the window: dropped, ACKed.
    h.send(seg(F::ACK, p + 4000, s), &[1; 10]);
    assert_eq!(h.recv_one().ack(), p + 4000);
    h.tcp.pause_reading(c, false);
    let u = h.recv_one();
    assert_eq!(
        (u.ack(), u.repr.window_len),
        (p + 4000, 4000),
        "window update"
    );
    assert_eq!(h.data_of(c).len(), 4000);
}

#[test]
fn writable_after_buffer_full() {
    let mut h = H::new(TcpConfig {
        tx_buffer: 3000,
        ..plain_cfg()
    });
    let (c, s, p) = established_mss(&mut h);
    h.tcp.send(c, payload(3000)).unwrap();
    assert_eq!(h.tcp.send(c, payload(1)), Err(TcpError::BufferFull));
    assert_eq!(h.tcp.queued(c), 3000);
    h.recv();
    h.send(seg(F::ACK, p, s + 2920), &[]);
    h.recv();
    assert!(h.events.contains(&Event::Writable(c)));
    assert_eq!(h.tcp.queued(c), 80);
}

#[test]
fn idle_connection_memory_under_1k() {
    let mut h = H::new(TcpConfig::default());
    let (c, iss) = h.accept(linux_syn(PEER_ISS, 5000));
    // Exchange some data so the queues have been used, then go idle.
    h.tcp.send(c, payload(5000)).unwrap();
    h.recv();
    let mut a = seg(F::ACK, PEER_ISS + 1, iss + 5001);
    a.timestamp = Some(TcpTimestamp {
        tsval: 5002,
        tsecr: 0,
    });
    h.send(a, &[]);
    h.recv();
    let size = core::mem::size_of::<tcb::Tcb>();
    let total = h.tcp.connection_memory_of(c);
    println!("idle established connection: Tcb {size} B, total with heap, timers, demux {total} B");
    assert!(total < 1024, "{total}");
}
