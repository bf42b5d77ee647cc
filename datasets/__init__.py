"""vssl-bench data layer: official UCF101/HMDB51 layouts, decoding, clip sampling, embedded synthetic datasets."""
