//! ZUNION, ZINTER, ZDIFF and their STORE forms (`set_op`: WEIGHTS, AGGREGATE, WITHSCORES).

use bytes::Bytes;

use super::members::{reply_items, store_items};
use crate::cmd::args::*;
use crate::cmd::table::*;
use crate::resp::{parse_f64, parse_i64, Out};
use crate::store::{new_map, HMap, Keys, Map, Score, Value};

pub fn commands() -> Vec<Cmd> {
    let w = WRITE | DENYOOM;
    let r = READONLY;
    vec![
        cmd(
            "zunionstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zunionstore,
        ),
        cmd(
            "zinterstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zinterstore,
        ),
        cmd(
            "zdiffstore",
            -4,
            w | ALL,
            (0, 0, 0),
            "sorted-set",
            zdiffstore,
        ),
        cmd("zunion", -3, r | ALL, (0, 0, 0), "sorted-set", zunion),
        cmd("zinter", -3, r | ALL, (0, 0, 0), "sorted-set", zinter),
        cmd("zdiff", -3, r | ALL, (0, 0, 0), "sorted-set", zdiff),
    ]
}

#[derive(Copy, Clone, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// ZUNION/ZINTER/ZDIFF core over `a` = numkeys key... [WEIGHTS ..] [AGGREGATE ..] [WITHSCORES].
fn set_op(
    k: &mut Keys,
    out: &mut Out,
    a: &[&[u8]],
    op: SetOp,
    allow_scores: bool,
) -> Option<(Vec<(Bytes, f64)>, bool)> {
    let Some(n) = parse_i64(a[0]) else {
        out.err(E_NOTINT);
        return None;
    };
    if n < 1 {
        out.err("ERR at least 1 input key is needed for this command");
        return None;
    }
    let n = n as usize;
    if a.len() < 1 + n {
        out.err(E_SYNTAX);
        return None;
    }
    let keys = &a[1..1 + n];
    let mut weights = vec![1.0; n];
    let (mut agg, mut scores) = (0u8, false);
    let mut i = 1 + n;
    while i < a.len() {
        if eq(a[i], "weights") && op != SetOp::Diff && i + n < a.len() {
            for (j, w) in weights.iter_mut().enumerate() {
                match parse_f64(a[i + 1 + j]) {
                    Some(v) => *w = v,
                    None => {
                        out.err("ERR weight value is not a float");
                        return None;
                    }
                }
            }
            i += n;
        } else if eq(a[i], "aggregate") && op != SetOp::Diff && i + 1 < a.len() {
            agg = match a[i + 1].to_ascii_lowercase().as_slice() {
                b"sum" => 0,
                b"min" => 1,
                b"max" => 2,
                _ => {
                    out.err(E_SYNTAX);
                    return None;
                }
            };
            i += 1;
        } else if eq(a[i], "withscores") && allow_scores {
            scores = true;
        } else {
            out.err(E_SYNTAX);
            return None;
        }
        i += 1;
    }
    let mut inputs: Vec<Option<Vec<(Bytes, f64)>>> = Vec::with_capacity(n);
    for key in keys {
        let v = match k.get(key).map(|e| &e.val) {
            None => None,
            Some(Value::ZSet(z)) => Some(z.tree.iter().map(|(s, m)| (m.clone(), s.0)).collect()),
            Some(Value::Set(s)) => Some(s.iter().map(|m| (m.clone(), 1.0)).collect()),
            Some(_) => {
                out.err(E_WRONGTYPE);
                return None;
            }
        };
        inputs.push(v);
    }
    let combine = |x: f64, y: f64| match agg {
        1 => x.min(y),
        2 => x.max(y),
        _ => {
            let s = x + y;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
    };
    let weigh = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: Map<Bytes, f64> = new_map();
    match op {
        SetOp::Union => {
            for (inp, w) in inputs.iter().zip(&weights) {
                for (m, s) in inp.iter().flatten() {
                    let v = weigh(*s, *w);
                    acc.entry(m.clone())
                        .and_modify(|x| *x = combine(*x, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().all(|i| i.is_some()) {
                let first = inputs[0].as_ref().expect("some");
                let maps: Vec<HMap<Bytes, f64>> = inputs[1..]
                    .iter()
                    .map(|i| i.iter().flatten().cloned().collect())
                    .collect();
                for (m, s) in first {
                    let mut v = weigh(*s, weights[0]);
                    let mut all = true;
                    for (j, mp) in maps.iter().enumerate() {
                        match mp.get(m) {
                            Some(x) => v = combine(v, weigh(*x, weights[j + 1])),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        acc.insert(m.clone(), v);
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = &inputs[0] {
                let others: HMap<Bytes, ()> = inputs[1..]
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|(m, _)| (m.clone(), ()))
                    .collect();
                for (m, s) in first {
                    if !others.contains_key(m) {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut items: Vec<(Bytes, f64)> = acc.into_iter().collect();
    items.sort_by(|x, y| Score(x.1).cmp(&Score(y.1)).then_with(|| x.0.cmp(&y.0)));
    Some((items, scores))
}

fn store_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: SetOp) {
    if let Some((items, _)) = set_op(k, out, &a[2..], op, false) {
        store_items(k, a[1], items, out)
    }
}

fn zunionstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Union)
}

fn zinterstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Inter)
}

fn zdiffstore(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    store_op(k, out, a, SetOp::Diff)
}

fn read_op(k: &mut Keys, out: &mut Out, a: &[&[u8]], op: SetOp) {
    if let Some((items, scores)) = set_op(k, out, &a[1..], op, true) {
        reply_items(out, &items, scores)
    }
}

fn zunion(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Union)
}

fn zinter(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Inter)
}

fn zdiff(_c: &mut Ctx, k: &mut Keys, out: &mut Out, a: &[&[u8]]) {
    read_op(k, out, a, SetOp::Diff)
}
