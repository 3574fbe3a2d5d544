//! Random names: file keys, blob names, lease ids, staging files.

/// `len` random letters and digits from the thread's CSPRNG (ChaCha, seeded from the OS).
pub fn random(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
