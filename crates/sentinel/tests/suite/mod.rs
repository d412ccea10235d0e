mod hook;
mod mcp;
mod proxy;
mod upstream;
