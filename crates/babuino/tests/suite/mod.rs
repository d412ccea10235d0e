mod vm;
