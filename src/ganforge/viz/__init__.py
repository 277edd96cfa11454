"""Pictures of training: sample grids, scatter plots of 2-D samples, GIFs and curves."""

from ganforge.viz.animation import save_gif
from ganforge.viz.grid import image_grid, render_samples, save_png
from ganforge.viz.plots import plot_column, plot_loss_curves

__all__ = ["image_grid", "plot_column", "plot_loss_curves", "render_samples", "save_gif", "save_png"]
