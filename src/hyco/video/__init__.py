"""Video: colour and 4:2:0 handling, video file IO, and the learned video codecs."""
