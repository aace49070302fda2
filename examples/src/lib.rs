//! Helpers shared by the example programs: a heading printer and a local page server.
