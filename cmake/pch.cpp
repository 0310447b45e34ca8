// The translation unit that carries the precompiled header (cmake/build_speed.cmake).
