mod support;
mod upstream;

mod advisory;
mod advisory_cli;
mod advisory_online;
mod audit;
mod cache;
mod check;
mod eval;
mod faults;
mod hook;
mod live;
mod mcp;
mod policy;
mod proxy;
mod quality;
mod scan;
