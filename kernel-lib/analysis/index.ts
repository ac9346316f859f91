/** Routing statistics and their Markdown tables, figures (plotly), static export, tables and the analysis of finished runs. */
export * from './routing-stats';
export * from './routing-tables';
export * from './figures';
export * from './render';
export * from './tables';
export * from './runs';
export * from './report';
export * from './image-grid';
