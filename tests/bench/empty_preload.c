// An LD_PRELOAD object that does nothing: scripts/bench-startup runs the bash loop under it,
// in the same run as the agent, to show what preloading any object costs each process (the
// loader opening, mapping and relocating one more file). Not part of the agent.
__attribute__((constructor)) static void loaded(void) {}
