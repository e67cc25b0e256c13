"""Detection data in one place: COCO json and VOC folders/ZIPs (`data`, `voc`), letterboxed seeded
batches (`batches`), the run config's data entry (`config`), and the synthetic sets for benchmarks
(`pasted`: CIFAR-10 objects on canvases; `shapes`: ten classes of small shapes)."""
