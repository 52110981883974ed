//! The dev kit's tests: the TS SDK's shared vectors are reproduced, and the demo runs end to end.
mod demo;
mod ts_vectors;
