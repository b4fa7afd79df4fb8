package main

// importerCommands lists the commands that bring sessions in from other
// session stores.
var importerCommands []*command
