pub mod calibrate;
pub mod flows;
pub mod inspect;
