//! `exfilmeter completions SHELL` and `exfilmeter man DIR`: what a shell and `man` need, made
//! from the same command definition the binary parses with.

use crate::Outcome;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Folder to write `exfilmeter.1` and one `exfilmeter-COMMAND.1` per subcommand into.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Writes the completion script for `args.shell` to standard output.
pub fn completions(args: &CompletionArgs, mut cmd: clap::Command) -> Result<Outcome> {
    clap_complete::generate(args.shell, &mut cmd, "exfilmeter", &mut std::io::stdout());
    Ok(Outcome::Complete)
}

/// Writes the man pages into `args.dir`.
pub fn man(args: &ManArgs, cmd: clap::Command) -> Result<Outcome> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let write = |name: &str, c: clap::Command| -> Result<()> {
        let path = args.dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))
    };
    for sub in cmd.get_subcommands() {
        let name = format!("exfilmeter-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
    }
    write("exfilmeter", cmd)?;
    Ok(Outcome::Complete)
}
