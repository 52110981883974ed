pub mod close_app;
pub mod create_app;
pub mod init_shard;
pub mod publisher;
pub mod rotate_history;
pub mod set_policy;
pub mod update_shard;

pub use close_app::*;
pub use create_app::*;
pub use init_shard::*;
pub use publisher::*;
pub use rotate_history::*;
pub use set_policy::*;
pub use update_shard::*;
