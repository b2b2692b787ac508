pub mod keygen;
pub mod token;
