//! What a network is made of: its configuration, its parameters by AlphaFold2 path, the schema the
//! loaders imply, and the ONNX model file that carries both.

pub mod config;
pub mod model_file;
pub mod random;
pub mod schema;
pub mod weights;
