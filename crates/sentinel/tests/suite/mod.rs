mod support;
mod upstream;

mod cache;
mod check;
mod eval;
mod faults;
mod hook;
mod mcp;
mod policy;
mod proxy;
mod scan;
