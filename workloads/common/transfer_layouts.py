"""Where each transfer set lives under the data root and in which release layout (no torch: ``orchestrator doctor``
and the workloads' ``requirements`` read it; ``workloads.common.transfer_datasets`` loads the sets)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TransferSet:
    folder: str                 # under the data root
    layout: str                 # what the loader reads, for the missing-data error
    source: str                 # where people get it
    accuracy: str = "top1"      # Table A.13's measure: top1 or mean_per_class
    val_rule: float | int | None = None   # per-class val sample from train: fraction (float) or count (int)
    files: tuple[str, ...] = ()  # what must exist under the data root (split files, image folders)


TRANSFER_SETS: dict[str, TransferSet] = {
    "food101": TransferSet("food-101", "food-101/{images/<class>/<id>.jpg, meta/classes.txt, meta/train.txt, "
                           "meta/test.txt}", "the Food-101 archive (ETH Zurich)", val_rule=75,
                  files=("food-101/images", "food-101/meta/classes.txt", "food-101/meta/train.txt", "food-101/meta/test.txt")),
    "sun397": TransferSet("SUN397", "SUN397/<letter>/<class>/*.jpg and SUN397/Partitions/{ClassName.txt, "
                          "Training_01.txt, Testing_01.txt}", "SUN397.tar.gz and Partitions.zip (MIT SUN database)",
                          val_rule=10,
                  files=("SUN397/Partitions/ClassName.txt", "SUN397/Partitions/Training_01.txt", "SUN397/Partitions/Testing_01.txt")),
    "cars": TransferSet("stanford_cars", "stanford_cars/{cars_train/, cars_test/, devkit/cars_meta.mat, "
                        "devkit/cars_train_annos.mat, cars_test_annos_withlabels.mat}",
                        "the Stanford Cars images, devkit and labelled test annotations", val_rule=0.2,
                  files=("stanford_cars/cars_train", "stanford_cars/cars_test", "stanford_cars/devkit/cars_meta.mat",
                               "stanford_cars/devkit/cars_train_annos.mat", "stanford_cars/cars_test_annos_withlabels.mat")),
    "aircraft": TransferSet("fgvc-aircraft-2013b", "fgvc-aircraft-2013b/data/{images/<id>.jpg, variants.txt, "
                            "images_variant_trainval.txt, images_variant_test.txt}",
                            "fgvc-aircraft-2013b.tar.gz (Oxford VGG)", "mean_per_class", val_rule=0.2,
                  files=("fgvc-aircraft-2013b/data/images", "fgvc-aircraft-2013b/data/variants.txt",
                                   "fgvc-aircraft-2013b/data/images_variant_trainval.txt",
                                   "fgvc-aircraft-2013b/data/images_variant_test.txt")),
    "dtd": TransferSet("dtd", "dtd/dtd/{images/<class>/*.jpg, labels/train1.txt, val1.txt, test1.txt}",
                       "dtd-r1.0.1.tar.gz (Oxford VGG), extracted under a dtd/ folder as torchvision does",
                  files=("dtd/dtd/images", "dtd/dtd/labels/train1.txt", "dtd/dtd/labels/val1.txt", "dtd/dtd/labels/test1.txt")),
    "pets": TransferSet("oxford-iiit-pet", "oxford-iiit-pet/{images/<name>.jpg, annotations/trainval.txt, "
                        "annotations/test.txt}", "images.tar.gz and annotations.tar.gz (Oxford VGG)",
                        "mean_per_class", val_rule=20,
                  files=("oxford-iiit-pet/images", "oxford-iiit-pet/annotations/trainval.txt",
                               "oxford-iiit-pet/annotations/test.txt")),
    "caltech101": TransferSet("caltech101", "caltech101/101_ObjectCategories/<class>/*.jpg",
                              "101_ObjectCategories.tar.gz (Caltech), extracted under caltech101/", "mean_per_class",
                              val_rule=5,
                  files=("caltech101/101_ObjectCategories",)),
    "flowers": TransferSet("flowers-102", "flowers-102/{jpg/image_<00001>.jpg, imagelabels.mat, setid.mat}",
                           "102flowers.tgz, imagelabels.mat and setid.mat (Oxford VGG)", "mean_per_class",
                  files=("flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat")),
    "cub200": TransferSet("CUB_200_2011", "CUB_200_2011/{images/<class>/*.jpg, images.txt, image_class_labels.txt, "
                          "train_test_split.txt}", "CUB_200_2011.tgz (Caltech)",
                  files=("CUB_200_2011/images", "CUB_200_2011/images.txt", "CUB_200_2011/image_class_labels.txt",
                                 "CUB_200_2011/train_test_split.txt")),
}


def missing_files(name: str, data_root: str | Path) -> tuple[Path, ...]:
    """The files and folders of ``name``'s release layout that are absent under ``data_root`` (empty: found)."""
    root = Path(data_root)
    return tuple(root / f for f in TRANSFER_SETS[name].files if not (root / f).exists())
