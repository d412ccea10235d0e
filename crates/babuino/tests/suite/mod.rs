mod native_attacks;
mod native_cleanup;
mod native_cli;
mod native_limits;
mod native_network;
mod native_unprivileged;
mod native_util;
mod vm;
