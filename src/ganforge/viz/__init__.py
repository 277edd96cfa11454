"""Every picture ganforge draws: sample grids, scatter plots of 2-D samples, GIFs and curves."""

from ganforge.viz.animation import encode_gif, save_gif
from ganforge.viz.grid import GridCanvas, encode_png, grid_columns, image_grid, render_samples, save_png
from ganforge.viz.plots import plot_column, plot_loss_curves
from ganforge.viz.scatter import scatter_limits, scatter_picture

__all__ = ["GridCanvas", "encode_gif", "encode_png", "grid_columns", "image_grid", "plot_column", "plot_loss_curves",
           "render_samples", "save_gif", "save_png", "scatter_limits", "scatter_picture"]
