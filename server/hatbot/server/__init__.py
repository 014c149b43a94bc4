"""The hatbot gRPC server: a trained model answered over the hatbot.v1 contract."""
