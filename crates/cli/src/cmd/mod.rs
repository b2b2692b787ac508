pub mod add;
pub mod exit;
pub mod keygen;
pub mod monitor;
pub mod policy;
pub mod token;
pub mod verify;
pub mod witness;
