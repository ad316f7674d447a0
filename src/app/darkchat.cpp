// darkchat: a darkchat node with a terminal front end (macros and messages on
// stdin, one event per line on stdout).
#include "app.hpp"

int main(int argc, char** argv) { return dc::app::main(argc, argv, false); }
