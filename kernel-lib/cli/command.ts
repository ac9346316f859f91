/** The shape of a CLI subcommand (one file each under ./commands). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  short?: string;
  default?: string | boolean;
  multiple?: boolean;
}

export interface CommandArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  run(args: CommandArgs): Promise<number>;
}
