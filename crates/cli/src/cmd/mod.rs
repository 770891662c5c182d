pub mod flows;
pub mod inspect;
