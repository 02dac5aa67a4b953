// runner.cpp — the runtime and the request loop in one translation unit (compiled once per
// compiler/flags and linked with every kernel program).
#include "mslcpu_rt.cpp"
#include "mslcpu_main.cpp"
