pub mod analyze;
pub mod calibrate;
pub mod case;
pub mod flows;
pub mod inspect;
pub mod report;
pub mod shell;

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
