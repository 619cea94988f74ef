//! Content hashes recorded beside outputs, so that a rerun skips work whose inputs are unchanged.

use sha2::{Digest, Sha256};

use crate::io::checksum::hex;
pub use crate::io::checksum::sha256_file;

/// Incremental hash of named parts (each part length-prefixed, so boundaries cannot shift).
#[derive(Default)]
pub struct InputHash(Sha256);

impl InputHash {
    pub fn new(domain: &str) -> Self {
        let mut h = Self::default();
        h.add(domain);
        h
    }

    pub fn add(&mut self, part: &str) -> &mut Self {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part.as_bytes());
        self
    }

    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        let a = {
            let mut h = InputHash::new("d");
            h.add("ab").add("c");
            h.finish()
        };
        let b = {
            let mut h = InputHash::new("d");
            h.add("a").add("bc");
            h.finish()
        };
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
