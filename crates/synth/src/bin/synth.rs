//! `synth OUT_DIR [SEED]`: writes capture.pcap, iocs.txt, recovered/stage.csv and truth.csv.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: synth OUT_DIR [SEED]");
        std::process::exit(2);
    };
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(2014);
    let inc = exfilmeter_synth::generate(seed);
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir.join("recovered"))?;
    std::fs::write(dir.join("capture.pcap"), &inc.pcap)?;
    std::fs::write(dir.join("iocs.txt"), &inc.iocs)?;
    std::fs::write(dir.join("recovered/stage.csv"), &inc.recovered)?;
    let mut t = String::from("day,host,records,record_bytes,stream_bytes\n");
    for d in &inc.truth {
        t.push_str(&format!(
            "{},{},{},{},{}\n",
            d.day, d.host, d.records, d.record_bytes, d.stream_bytes
        ));
    }
    std::fs::write(dir.join("truth.csv"), t)?;
    eprintln!(
        "wrote {} ({} bytes of capture)",
        dir.display(),
        inc.pcap.len()
    );
    Ok(())
}
