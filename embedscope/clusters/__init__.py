"""Clusters: how a model organises a corpus (KMeans/HDBSCAN), 2-D maps, and quality per cluster."""

from embedscope.clusters.cluster import Clustering, hdbscan, kmeans, kmeans_sweep, parse_ks
from embedscope.clusters.projection import project
from embedscope.clusters.quality import label_agreement, metric_by_cluster

__all__ = ["Clustering", "hdbscan", "kmeans", "kmeans_sweep", "label_agreement", "metric_by_cluster", "parse_ks",
           "project"]
