// darkchatd: a darkchat node without a front end; -s makes it a super-client.
#include "app.hpp"

int main(int argc, char** argv) { return dc::app::main(argc, argv, true); }
