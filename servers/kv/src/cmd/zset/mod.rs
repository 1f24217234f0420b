//! Sorted set commands, in three files: `members` (one member at a time, popping, ZSCAN, and
//! the helpers the others share), `range` (rank, score and lex ranges), `setop` (ZUNION,
//! ZINTER, ZDIFF). Each opens with its rows of the command table.

mod members;
mod range;
mod setop;

use crate::cmd::table::Cmd;

pub fn commands() -> Vec<Cmd> {
    let mut t = members::commands();
    t.extend(range::commands());
    t.extend(setop::commands());
    t
}
