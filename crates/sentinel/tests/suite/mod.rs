mod support;

mod cache;
mod check;
mod eval;
mod faults;
mod live;
mod policy;
mod scan;
