//! `sha256file FILE`: SHA-256 of a file with the same crate and read size exfilmeter uses —
//! the "hash crate alone" baseline of the ingest benchmark.

use sha2::{Digest, Sha256};
use std::io::Read;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sha256file FILE");
        std::process::exit(2);
    };
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut h = Sha256::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    println!("{:x}", h.finalize());
    Ok(())
}
