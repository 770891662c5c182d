pub mod analyze;
pub mod calibrate;
pub mod case;
pub mod flows;
pub mod inspect;
pub mod merge;
pub mod report;
pub mod shell;
pub mod split;

use exfilmeter_ingest::HashAlgo;

/// `--hash sha256|none`, parsed once for every command that reads captures.
pub(crate) fn hash_parser() -> impl clap::builder::TypedValueParser<Value = HashAlgo> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["sha256", "none"]).map(|s| {
        if s == "none" {
            HashAlgo::None
        } else {
            HashAlgo::Sha256
        }
    })
}

/// Where the record model's compression ratios are cached (shared by `calibrate` and
/// `analyze`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheArgs {
    /// Folder of the record-model cache: the compression ratios of recovered files, keyed by
    /// their SHA-256 [default: $XDG_CACHE_HOME/exfilmeter, else ~/.cache/exfilmeter].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Measure the compression ratios anew and neither read nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache folder to use (None: no cache).
    pub(crate) fn dir(&self) -> Option<std::path::PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(exfilmeter_estimate::default_cache_dir)
    }
}

/// Shards of the flow stage: `--threads`, else every core on a machine of 4 or more, else 1.
/// With fewer cores the one-thread pipeline's own helpers (the table writer, the SHA-256
/// threads) already keep them busy, and shards measured no faster there while holding a third
/// more memory (decision 0025).
pub(crate) fn flow_shards(threads: Option<usize>) -> anyhow::Result<usize> {
    match threads {
        Some(_) => model_threads(threads),
        None => {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            Ok(if cores >= MIN_CORES_FOR_SHARDS {
                cores
            } else {
                1
            })
        }
    }
}

/// Cores from which the flow stage is sharded by default.
pub(crate) const MIN_CORES_FOR_SHARDS: usize = 4;

/// Threads for the record model's compression ratios: `--threads`, else every core.
pub(crate) fn model_threads(threads: Option<usize>) -> anyhow::Result<usize> {
    match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZero::get)),
    }
}
