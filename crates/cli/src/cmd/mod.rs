pub mod analyze;
pub mod calibrate;
pub mod case;
pub mod flows;
pub mod inspect;
pub mod report;
