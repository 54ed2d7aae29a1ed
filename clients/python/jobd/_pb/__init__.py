"""Code generated from proto/jobd.proto by protoc at build time (never
committed): jobd_pb2.py is written here by the build backend."""
