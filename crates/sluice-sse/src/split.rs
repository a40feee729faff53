//! The split-anywhere check for [`Parser`] (features `arbitrary` or
//! `proptest`): the items it reports must not depend on how the stream was cut.

use alloc::vec::Vec;

pub use sluice_testkit::{Splits, pieces, same_under_splits};

use crate::{Config, Item, ParseError, Parser};

/// What a fresh `Parser::with_config(config)` reports for `pieces`, then end of input: every
/// item, and the error it stopped at (a limit), if any.
///
/// # Panics
/// When the borrowed path ([`Parser::handle_input_with`]) reports other items or another
/// error than the owned one ([`Parser::handle_input`] and [`Parser::poll_item`]): every split
/// check covers both.
pub fn parse_pieces(
    config: &Config,
    pieces: &mut dyn Iterator<Item = &[u8]>,
) -> (Vec<Item>, Option<ParseError>) {
    let pieces: Vec<&[u8]> = pieces.collect();
    let owned = run(config, &pieces, |p, piece, items| {
        let r = p.handle_input(piece);
        items.extend(core::iter::from_fn(|| p.poll_item()));
        r
    });
    let borrowed = run(config, &pieces, |p, piece, items| {
        p.handle_input_with(piece, |it| items.push(it.to_owned()))
    });
    assert_eq!(
        owned, borrowed,
        "the borrowed path differs from the owned one"
    );
    owned
}

fn run(
    config: &Config,
    pieces: &[&[u8]],
    mut feed: impl FnMut(&mut Parser, &[u8], &mut Vec<Item>) -> Result<(), ParseError>,
) -> (Vec<Item>, Option<ParseError>) {
    let mut p = Parser::with_config(config.clone());
    let mut items = Vec::new();
    for piece in pieces {
        if let Err(e) = feed(&mut p, piece, &mut items) {
            return (items, Some(e));
        }
    }
    p.handle_eof();
    items.extend(core::iter::from_fn(|| p.poll_item()));
    (items, None)
}

/// Parses `bytes` whole and cut per `splits`; every run must report the same items and
/// error, which are returned.
///
/// ```
/// use sluice_sse::split::{Splits, items_under_splits};
/// let (items, err) = items_under_splits(b"data: a\r\n\r\ndata: b\n\n", &Default::default(), Splits::Every);
/// assert_eq!((items.len(), err), (2, None));
/// ```
///
/// # Panics
/// When a cut set gives another result (the message names the cuts).
pub fn items_under_splits(
    bytes: &[u8],
    config: &Config,
    splits: Splits,
) -> (Vec<Item>, Option<ParseError>) {
    sluice_testkit::same_under_splits(bytes, splits, |p| parse_pieces(config, p))
}
