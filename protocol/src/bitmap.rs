//! The set of validators that signed a certificate, as a bitmap over committee indices.
//!
//! A bitmap makes "each signer at most once" a property of the representation (W-3.5):
//! there is no way to write a duplicate signer.

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::limits::MAX_COMMITTEE_SIZE;
use crate::types::ValidatorIndex;

const WORDS: usize = MAX_COMMITTEE_SIZE.div_ceil(64);

/// Which members of a committee of `len` validators are in a set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignerBitmap {
    len: u16,
    words: BoundedVec<u64, WORDS>,
}

/// The bitmap is not well formed for its committee.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitmapError {
    /// The bitmap was made for a committee of another size.
    #[error("bitmap covers {found} validators but the committee has {expected}")]
    WrongLength {
        /// The committee size.
        expected: usize,
        /// The bitmap's length.
        found: usize,
    },
    /// Word count does not match the length, or bits are set past the length.
    #[error("bitmap has bits outside its length")]
    Malformed,
}

impl SignerBitmap {
    /// An empty set over a committee of `len` validators.
    pub fn new(len: usize) -> Self {
        let len = len.min(MAX_COMMITTEE_SIZE);
        let words = vec![0u64; len.div_ceil(64)];
        Self {
            len: u16::try_from(len).unwrap_or(u16::MAX),
            words: BoundedVec::try_from_vec(words).unwrap_or_default(),
        }
    }

    /// The committee size this bitmap is for.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the bitmap is over an empty committee.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a validator; returns false if it was already present or is out of range.
    pub fn insert(&mut self, index: ValidatorIndex) -> bool {
        let i = index.as_usize();
        if i >= self.len() {
            return false;
        }
        let Some(word) = self.words.as_mut_slice().get_mut(i / 64) else {
            return false;
        };
        let was = *word & (1 << (i % 64)) != 0;
        *word |= 1 << (i % 64);
        !was
    }

    /// Whether a validator is present.
    pub fn contains(&self, index: ValidatorIndex) -> bool {
        let i = index.as_usize();
        i < self.len()
            && self
                .words
                .get(i / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The number of validators present.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Present validators, in ascending index order.
    pub fn iter(&self) -> impl Iterator<Item = ValidatorIndex> + '_ {
        (0..self.len()).filter_map(move |i| {
            let idx = ValidatorIndex(i as u16);
            self.contains(idx).then_some(idx)
        })
    }

    /// Checks that the bitmap is well formed and sized for a committee of `committee_len`.
    pub fn validate(&self, committee_len: usize) -> Result<(), BitmapError> {
        if self.len() != committee_len {
            return Err(BitmapError::WrongLength {
                expected: committee_len,
                found: self.len(),
            });
        }
        if self.words.len() != self.len().div_ceil(64) {
            return Err(BitmapError::Malformed);
        }
        let tail = self.len() % 64;
        if tail != 0 && self.words.last().is_some_and(|w| w >> tail != 0) {
            return Err(BitmapError::Malformed);
        }
        Ok(())
    }
}
