mod attribution;
