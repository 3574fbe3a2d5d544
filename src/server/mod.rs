//! The file.io-compatible server behind `fileio serve`.
