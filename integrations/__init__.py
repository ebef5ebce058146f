"""One module (or small package) per external system."""
