pub mod keygen;
pub mod token;
pub mod witness;
