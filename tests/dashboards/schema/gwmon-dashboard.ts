/**
 * The dashboards gwmon generates, typed with Grafana's own published schema
 * (@grafana/schema, the version of the Grafana the dashboards target; package.json).
 *
 * tests/dashboards/test_schema.py writes each generated dashboard as
 * `export const dashboard: GwmonDashboardJson = <the JSON>;` (each panel checked with
 * `satisfies PanelJson<type>`) and runs `tsc` (strict, exactOptionalPropertyTypes) on
 * it: a wrong enum value, a misspelled property or a value of the wrong type is a
 * compile error. Nothing is cast.
 */
import type {
  AnnotationQuery,
  Dashboard,
  DataQuery,
  FieldConfig,
  FieldConfigSource,
  Panel,
  VariableModel,
} from '@grafana/schema';
import type * as BarGauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as Geomap from '@grafana/schema/dist/esm/raw/composable/geomap/panelcfg/x/GeomapPanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * JSON has no enums: the schema's string enums (FieldColorModeId, ThresholdsMode,
 * MappingType, ...) become the unions of their values (`${E}` of a string enum E),
 * everywhere in the type. Numeric enums stay: TypeScript accepts exactly their values
 * as number literals. `any` (a few schema generics) stays `any`.
 */
export type Json<T> =
  IsAny<T> extends true
    ? T
    : T extends string
      ? `${T}`
      : T extends number | boolean | bigint | symbol | null | undefined
        ? T
        : T extends ReadonlyArray<infer Item>
          ? Array<Json<Item>>
          : T extends (...args: never[]) => unknown
            ? T
            : T extends object
              ? { [Key in keyof T]: Json<T[Key]> }
              : T;

/**
 * A raw InfluxQL target as Grafana's InfluxDB data source stores it: the fields of its
 * `InfluxQuery` (grafana/grafana, public/app/plugins/datasource/influxdb/types.ts) that gwmon writes, and
 * no others, so that a misspelled one fails instead of being ignored by Grafana.
 */
export interface InfluxQLTarget extends DataQuery {
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table' | 'logs';
  alias?: string;
}

/** The target of an InfluxQL annotation: which columns are the text and the tags. */
export interface InfluxQLAnnotationTarget extends InfluxQLTarget {
  textColumn: string;
  tagsColumn: string;
}

/**
 * An InfluxQL annotation: the target form and the legacy fields at the annotation's top
 * level, which Grafana's InfluxDB data source still reads and migrates into the target
 * (grafana/grafana, public/app/plugins/datasource/influxdb/migrations.ts, LegacyAnnotation).
 */
export interface InfluxQLAnnotation extends AnnotationQuery<InfluxQLAnnotationTarget> {
  query: string;
  textColumn: string;
  tagsColumn: string;
}

/**
 * A panel of one plugin with that plugin's own option and field-config types. Stored
 * options are partial (Grafana fills in the plugin's defaults when it loads a panel);
 * an object given is checked in full. The schema's FieldConfig types `custom` as
 * `TCustom & Record<string, unknown>`, which would accept any key, so it is replaced;
 * a plugin whose schema has no custom field config (`never`) takes none.
 */
type PluginPanel<Type extends string, Options, Custom> = Omit<
  Panel,
  'type' | 'options' | 'targets' | 'fieldConfig'
> & {
  type: Type;
  options?: Partial<Options>;
  targets: InfluxQLTarget[];
  fieldConfig?: Omit<FieldConfigSource, 'defaults'> & {
    defaults: Omit<FieldConfig, 'custom'> &
      ([Custom] extends [never] ? unknown : { custom?: Partial<Custom> });
  };
};

export type GwmonPanel =
  | PluginPanel<'timeseries', TimeSeries.Options, TimeSeries.FieldConfig>
  | PluginPanel<'table', Table.Options, Table.FieldConfig>
  | PluginPanel<'bargauge', BarGauge.Options, never>
  | PluginPanel<'stat', Stat.Options, never>
  | PluginPanel<'geomap', Geomap.Options, never>;

export interface GwmonDashboard extends Omit<Dashboard, 'panels' | 'templating' | 'annotations'> {
  panels: GwmonPanel[];
  templating?: { list?: VariableModel[] };
  annotations?: { list?: InfluxQLAnnotation[] };
}

/** A generated dashboard file, as JSON. */
export type GwmonDashboardJson = Json<GwmonDashboard>;

/**
 * One panel as JSON, checked against its own plugin's types: the test writes each panel
 * as `<panel> satisfies PanelJson<"timeseries">`, so an error names the property in that
 * plugin's terms instead of TypeScript's best guess among all panel types.
 */
export type PanelJson<Type extends GwmonPanel['type']> = Extract<
  Json<GwmonPanel>,
  { type: Type }
>;
