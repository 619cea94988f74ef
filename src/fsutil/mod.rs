//! File utilities every stage shares: atomic writes (temporary file, fsync, rename) and the cleanup of
//! what a killed run left, SHA-256 checksums and input hashes (the "is this output still up to date?"
//! evidence), and resumable downloads.

pub mod atomic;
pub mod checksum;
pub mod download;
pub mod regular;
pub mod tree;
