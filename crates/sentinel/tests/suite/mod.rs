mod advisory;
mod advisory_online;
